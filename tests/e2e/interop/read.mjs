// Read every row of the 16 models from DATABASE_URL through real Prisma Client and print them
// as one canonical JSON document: {Model: [rows ordered by id]}, users with their permissions
// (id and key, ordered by id). BigInt as a decimal string, Decimal by toString(), DateTime and
// Date by toISOString(), object keys sorted: two databases hold the same data as Prisma sees it
// exactly when the outputs are equal.
import { connect, Prisma } from "./client.mjs";

const MODELS = [
  "permission", "organization", "user", "department", "filiere", "organizationInvite",
  "demandePartage", "documentPartage", "blockchainBlock", "abonnement", "transaction",
  "payment", "contactMessage", "configuration", "siteSettings", "auditLog",
];

function canonical(value) {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Prisma.Decimal.isDecimal(value)) return value.toString();
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical(value[key])]),
    );
  }
  return value;
}

const prisma = connect();
try {
  const out = {};
  for (const model of MODELS) {
    const query = { orderBy: { id: "asc" } };
    if (model === "user") {
      query.include = { permissions: { select: { id: true, key: true }, orderBy: { id: "asc" } } };
    }
    out[model] = canonical(await prisma[model].findMany(query));
  }
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
} finally {
  await prisma.$disconnect();
}
