"""IO managers: one object per partition key, published atomically through a ProductStore."""
