// The generated Prisma Client (see generate.mjs), connected to DATABASE_URL through the pg
// driver adapter: no Rust engine involved.
import { PrismaPg } from "@prisma/adapter-pg";
import generated from "./generated/client/index.js";

export const { Prisma, PrismaClient } = generated;

export function connect() {
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) {
    console.error("DATABASE_URL is not set");
    process.exit(2);
  }
  return new PrismaClient({ adapter: new PrismaPg({ connectionString }) });
}
