"""HTTP only: parse, authenticate, call one use case, map the result or error."""
