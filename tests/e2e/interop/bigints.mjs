// What the old Node.js tool gets from an export's BigInt columns: the file is read with
// JSON.parse, as that tool does, and each block is created through Prisma Client in
// DATABASE_URL (an empty platform database) with `nonce` as the file gives it, links left
// out. Prints {"blockchainBlock": {id: nonce as stored}, "documentPartage": {id: fileSize as
// JavaScript read it}}, as decimal strings: equal to the source's exactly when nothing was
// rounded on the way (a JSON number above 2^53 would have been).
import { readFileSync } from "node:fs";
import { connect } from "./client.mjs";

const data = JSON.parse(readFileSync(process.argv[2], "utf8")).data;
const prisma = connect();
try {
  const out = { blockchainBlock: {}, documentPartage: {} };
  for (const row of data.blockchainBlocks) {
    const { documentPartageId, previousBlockId, ...values } = row;
    const block = await prisma.blockchainBlock.create({ data: values });
    out.blockchainBlock[block.id] = block.nonce.toString();
  }
  for (const row of data.documentPartages) {
    out.documentPartage[row.id] = row.fileSize === null ? null : BigInt(row.fileSize).toString();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
} finally {
  await prisma.$disconnect();
}
