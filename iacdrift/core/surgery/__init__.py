"""State surgery, pure: which operations configuration can say (blocks), whether the
plan after them is the one expected (expectation), and the plan record bound to its
inputs by a content hash (plan). Running Terraform on the copy lives in engine/ and
flows/."""
