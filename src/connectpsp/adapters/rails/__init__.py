"""Rails: adapters to a Pix network behind ``service.rail.Rail``."""
