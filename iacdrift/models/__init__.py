"""Pydantic models of every file format and record iacdrift reads or writes."""

from iacdrift.models import context, registry

# Settings names ContextSettings, whose module imports registry: resolve it here.
registry.Settings.model_rebuild(_types_namespace={"ContextSettings": context.ContextSettings})
