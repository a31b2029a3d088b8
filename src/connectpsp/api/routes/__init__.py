"""The API's routes, one router per feature; ``api/app.py`` mounts them."""
