"""The auditor's tools: audit records and replay, impact diff, gap and overlap analysis."""
