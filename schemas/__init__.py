"""Marshmallow schemas: the contract for every request and response the service handles."""
