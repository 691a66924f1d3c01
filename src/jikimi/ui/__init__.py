"""Web pages for people (server-rendered, every asset served by jikimi itself)."""
