"""The service layer: one module per notification kind, over a shared dispatch pipeline."""
