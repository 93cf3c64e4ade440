-- The check through an API gateway finds it by its secret's hash, as it
-- finds consumer keys: one index row, not a walk of the resources.
CREATE UNIQUE INDEX resources_gateway_token ON resources (secret) WHERE kind = 'api_gateway';
