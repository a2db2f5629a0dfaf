"""Model-side components: backbone adapters, prompts, evaluation and C-GRPO LightningModules."""
