"""Beyond the paper: colour preservation, several styles and masks, coarse-to-fine."""
