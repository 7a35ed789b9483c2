"""Generator, discriminator and losses."""
