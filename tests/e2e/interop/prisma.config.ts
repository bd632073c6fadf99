// Prisma CLI configuration for the interop check (see test_prisma_client.py).
// The schema is derived from the vendored core/prisma/schema.prisma by generate.mjs, which only
// swaps the generator block (engineType = "client", output inside this folder).
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: "generated/schema.prisma",
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL }),
});
