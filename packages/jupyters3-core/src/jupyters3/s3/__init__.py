"""S3 wire layer: request signing, endpoints, XML, transport and the client."""
