// Create one more AuditLog through Prisma Client in DATABASE_URL and print its id: after an
// import that kept the file's AuditLog ids, the platform's next insert must not collide with
// them (the SERIAL's sequence has to be past the largest id).
import { connect } from "./client.mjs";

const prisma = connect();
try {
  const row = await prisma.auditLog.create({ data: { action: "interop.check", entity: "System" } });
  process.stdout.write(`${row.id}\n`);
} finally {
  await prisma.$disconnect();
}
