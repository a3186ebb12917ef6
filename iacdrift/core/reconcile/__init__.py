"""The repair planner, pure: findings -> steps (actions), HCL blocks (hcl), their order
(graph) and the plan bound to its inputs (plan). Execution lives in flows/ and engine/."""
