"""LLM authoring: generated prompt, structured outputs, the repair loop, refinement and agent tools.

Modules (each imports `openai` or `mcp` only inside the functions that talk to them):

- `prompt`: the system prompt, generated from the function registry, data kinds and providers;
- `models`: price and knowledge-cutoff tables by model;
- `client`: the `openai` client from settings/env, with capped retries, usage and cost per call;
- `symbols`: symbols named in a prompt, extracted before the model sees it;
- `author`: natural language -> a validated strategy (parse -> validate -> compile, with repair);
- `refine`: a new version of a strategy from a change request, with a unified diff;
- `session`: conversation reuse (symbol and parameter changes never call the model);
- `tools`: agent tools as OpenAI function definitions and a dispatcher; `mcp_server`: the same over MCP.
"""
