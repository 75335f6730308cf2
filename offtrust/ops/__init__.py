"""Use cases, one function per user intent. No printing, no prompts."""
