"""The HTTP layer: FastAPI app, routers, schemas, middleware and error rendering."""
