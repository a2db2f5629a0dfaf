"""Training on compressed inputs: C-GRPO (the LightningModule), its config objects, its maths and its rewards."""
