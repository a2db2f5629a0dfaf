"""Training on compressed inputs: C-GRPO (the LightningModule), its maths and its rewards."""
