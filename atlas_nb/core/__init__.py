"""The domain core: async compute, job and catalogue operations behind the facade."""
