# Variable values of prod-payments. A secret-like value, as estates keep them:
# iacdrift links this file into its working copies, never copies it.
ledger_api_token = "tfvars-ledger-token-7d3e91c04a6b"
