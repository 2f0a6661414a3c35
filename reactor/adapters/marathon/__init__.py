"""Marathon adapter: async REST client and the SSE event watcher."""
