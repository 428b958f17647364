"""Client-facing API formats beside OpenAI chat (SPEC 3.8, 3.9): one module per dialect."""
