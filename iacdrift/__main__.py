"""`python -m iacdrift` runs the CLI."""

from iacdrift.cli import main

main()
