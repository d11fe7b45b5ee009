"""Built-in architectures, one per module (timm style)."""
