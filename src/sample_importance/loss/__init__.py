"""Per-sample training losses (reduction is done by the LightningModule)."""
