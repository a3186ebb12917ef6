"""iacdrift: a state-aware drift orchestrator for Terraform and OpenTofu."""

__version__ = "0.1.0"
