"""What views are made of, and what no service may use: the blueprint class, the JSON body
reader, fields, pagination, fast dumping, headers, the request deadline, the client's origin,
the OpenAPI document and the docs pages."""
