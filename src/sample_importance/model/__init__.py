"""Networks (built for any input size and channel count) and the LightningModule that trains them."""
