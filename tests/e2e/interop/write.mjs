// Create a small but complete data set in DATABASE_URL through real Prisma Client.
//
// Every one of the 16 models gets rows, every value of every enum is used, and the values
// that are easy to get wrong are there: the Organization.owner <-> User.organization cycle, a
// BlockchainBlock chain linked by previousBlock, users' permissions (the implicit m2m table),
// decimals 15000.5 / 0 / 0.01 / 9999999999.99, BigInts above 2^53, @db.Date values (one before
// 1970), DateTimes with milliseconds, Json that is nested, unicode, or a bare string/number/array,
// empty strings next to nulls, an AuditLog with its autoincrement id.
// Ids, createdAt and updatedAt are mostly left to Prisma, as the platform does.
// The database must hold the platform's empty tables (core/prisma/prisma-schema.sql).
import { connect, Prisma } from "./client.mjs";

const prisma = connect();
const at = (iso) => new Date(iso);
const day = (ymd) => new Date(`${ymd}T00:00:00.000Z`);

async function main() {
  if ((await prisma.organization.count()) + (await prisma.user.count()) > 0) {
    throw new Error("the database is not empty: write.mjs fills an empty platform database");
  }

  const perms = {};
  for (const [key, label, description] of [
    ["users.read", "Lire les utilisateurs", null],
    ["users.write", "Gérer les utilisateurs", "Créer, modifier, désactiver — « comptes »"],
    ["transactions.read", "Voir les transactions", ""],
  ]) {
    perms[key] = await prisma.permission.create({ data: { key, label, description } });
  }

  // One organization per OrganizationType.
  const orgs = {};
  const orgRows = [
    ["UNIVERSITE", "Université Cheikh Anta Diop", "ucad", "SN", "contact@ucad.sn"],
    ["ECOLE", "École Supérieure Polytechnique — Dakar", "esp-dakar", "SN", null],
    ["ENTREPRISE", "Société Ünïcödé & Fils \"SARL\"", "unicode-sarl", "FR", ""],
    ["ADMINISTRATION", "Ministère de l'Enseignement supérieur", "mesr", "CI", null],
    ["AUTRE", "组织 🌍", "autre-org", null, null],
  ];
  for (const [type, name, slug, country, email] of orgRows) {
    orgs[type] = await prisma.organization.create({
      data: {
        type,
        name,
        slug,
        country,
        email,
        phone: type === "ECOLE" ? "" : "+221 33 824 05 40",
        address: type === "UNIVERSITE" ? "Avenue Cheikh Anta Diop\nBP 5005 Dakar-Fann" : null,
        isActive: type !== "AUTRE",
        ...(type === "ADMINISTRATION" ? { createdAt: at("2021-06-30T23:59:59.999Z") } : {}),
      },
    });
  }

  // One user per Role; the SUPERADMIN has no organization, the ORG_ADMIN has two permissions.
  const users = {};
  const userRows = [
    ["SUPERADMIN", "root@platform.example", null],
    ["ADMIN", "admin@ucad.sn", "UNIVERSITE"],
    ["ORG_ADMIN", "directrice@esp.sn", "ECOLE"],
    ["AGENT", "agent.ñandú@mesr.gouv.ci", "ADMINISTRATION"],
    ["USER", "étudiant@example.org", "UNIVERSITE"],
  ];
  for (const [role, email, orgType] of userRows) {
    users[role] = await prisma.user.create({
      data: {
        role,
        email,
        passwordHash: `$2b$10$${role.padEnd(53, "x")}`,
        firstName: role === "USER" ? "Aïssatou" : role === "AGENT" ? "" : "Prénom",
        lastName: role === "USER" ? "N'Diaye-Fall" : null,
        phone: role === "ADMIN" ? "+221 77 000 00 00" : null,
        isActive: role !== "AGENT",
        emailVerifiedAt: role === "SUPERADMIN" ? null : at("2024-02-29T23:59:59.999Z"),
        lastLoginAt: role === "USER" ? at("2025-01-15T10:30:00.001Z") : null,
        ...(orgType ? { organization: { connect: { id: orgs[orgType].id } } } : {}),
      },
    });
  }
  // The permissions: the ORG_ADMIN has two, the ADMIN one, the others none.
  await prisma.user.update({
    where: { id: users.ORG_ADMIN.id },
    data: {
      permissions: { connect: [{ key: "users.read" }, { key: "transactions.read" }] },
    },
  });
  await prisma.user.update({
    where: { id: users.ADMIN.id },
    data: { permissions: { connect: [{ key: "users.write" }] } },
  });
  // The cycle: each organization's owner is one of its members.
  await prisma.organization.update({
    where: { id: orgs.UNIVERSITE.id },
    data: { owner: { connect: { id: users.ADMIN.id } } },
  });
  await prisma.organization.update({
    where: { id: orgs.ECOLE.id },
    data: { owner: { connect: { id: users.ORG_ADMIN.id } } },
  });

  const dept = await prisma.department.create({
    data: { organizationId: orgs.UNIVERSITE.id, name: "Faculté des Sciences et Techniques", code: "FST" },
  });
  await prisma.department.create({
    data: { organizationId: orgs.ECOLE.id, name: "Génie informatique", code: "FST" },
  });
  const filiere = await prisma.filiere.create({
    data: { departmentId: dept.id, name: "Mathématiques – Informatique", code: "MI" },
  });

  // One invitation per InviteStatus.
  const inviteStatuses = ["PENDING", "ACCEPTED", "EXPIRED", "REVOKED"];
  for (const [i, status] of inviteStatuses.entries()) {
    await prisma.organizationInvite.create({
      data: {
        organizationId: orgs.ECOLE.id,
        email: `invite${i}@esp.sn`,
        token: `tok_${status.toLowerCase()}_${"0123456789abcdef".repeat(3)}`,
        role: i === 0 ? undefined : ["ADMIN", "AGENT", "ORG_ADMIN"][i - 1],
        status,
        expiresAt: at(`2025-0${i + 1}-15T12:00:00.${String(i * 111).padStart(3, "0")}Z`),
        invitedById: i % 2 === 0 ? users.ORG_ADMIN.id : null,
      },
    });
  }

  // One request per DemandeStatus.
  const demandes = {};
  const demandeStatuses = ["EN_ATTENTE", "EN_COURS", "VALIDEE", "REJETEE", "ANNULEE"];
  for (const [i, status] of demandeStatuses.entries()) {
    demandes[status] = await prisma.demandePartage.create({
      data: {
        code: `DP-2025-${String(i + 1).padStart(4, "0")}`,
        userId: users.USER.id,
        targetOrgId: orgs.UNIVERSITE.id,
        assignedOrgId: i % 2 ? orgs.ADMINISTRATION.id : null,
        filiereId: i < 3 ? filiere.id : null,
        status,
        annee: "2023-2024",
        niveau: i === 0 ? "Licence 3" : null,
        motif: i === 3 ? "Pièce illisible : « relevé » manquant" : null,
        metadata:
          i === 0
            ? { source: "portail", étapes: ["dépôt", "vérification"], détails: { urgent: true, score: 0.75, note: null, emoji: "📄✅" } }
            : i === 1
              ? []
              : undefined,
        deletedAt: status === "ANNULEE" ? at("2025-03-01T08:00:00.500Z") : null,
      },
    });
  }

  const document = await prisma.documentPartage.create({
    data: {
      demandePartageId: demandes.VALIDEE.id,
      ownerOrgId: orgs.UNIVERSITE.id,
      type: "DIPLOME",
      mention: "Très bien",
      dateObtention: day("2019-07-01"),
      estTraduit: true,
      aDocument: true,
      codeAdn: "adn_" + "f".repeat(60),
      filePath: "documents/2025/diplôme final.pdf",
      mimeType: "application/pdf",
      fileSize: 9007199254740993n, // 2^53 + 1: not representable as a JavaScript number
      blockchainHash: "a".repeat(128),
      encryptedAt: at("2025-01-15T10:30:00.123Z"),
    },
  });
  await prisma.documentPartage.create({
    data: {
      demandePartageId: demandes.EN_COURS.id,
      ownerOrgId: orgs.ECOLE.id,
      type: "RELEVE",
      dateObtention: day("1969-12-31"),
      fileSize: 0n,
    },
  });

  // A chain of three blocks: genesis <- 1 <- 2.
  let previous = null;
  for (const [index, nonce] of [[0, 0n], [1, 9223372036854775807n], [2, 9007199254740993n]]) {
    previous = await prisma.blockchainBlock.create({
      data: {
        index,
        documentPartageId: index === 0 ? null : document.id,
        previousBlockId: previous ? previous.id : null,
        hash: `${index}`.repeat(64),
        previousHash: previous ? previous.hash : "0".repeat(64),
        nonce,
        data: index === 0 ? { genesis: true } : { document: document.id, 说明: "区块", list: [1, 2.5, "x", { y: [] }] },
        timestamp: at(`2025-01-15T10:30:0${index}.${index}0${index}Z`),
      },
    });
  }

  // One subscription per Plan, and per AbonnementStatus.
  const abonnements = {};
  const prices = ["0", "15000.5", "0.01", "9999999999.99"];
  const plans = ["GRATUIT", "STANDARD", "PREMIUM", "ENTREPRISE"];
  const abStatuses = ["ACTIVE", "EXPIRED", "CANCELED", "TRIAL"];
  for (const [i, plan] of plans.entries()) {
    abonnements[plan] = await prisma.abonnement.create({
      data: {
        organizationId: [orgs.UNIVERSITE, orgs.ECOLE, orgs.ENTREPRISE, orgs.AUTRE][i].id,
        plan,
        status: abStatuses[i],
        startDate: day(`202${i}-01-01`),
        endDate: i % 2 ? day(`202${i + 1}-12-31`) : null,
        price: new Prisma.Decimal(prices[i]),
        currency: i === 3 ? "EUR" : "XOF",
        autoRenew: i === 1,
      },
    });
  }

  // One transaction per TypePaiement and per StatutTransaction.
  const transactions = [];
  const types = ["MOBILE_MONEY", "BANK_TRANSFER", "CARD", "CASH"];
  const statuts = ["PENDING", "SUCCESS", "FAILED", "CANCELED"];
  const amounts = ["15000.5", "0", "0.01", "2500"];
  for (const [i, typePaiement] of types.entries()) {
    transactions.push(
      await prisma.transaction.create({
        data: {
          demandePartageId: demandes.VALIDEE.id,
          userId: i === 3 ? null : users.USER.id,
          montant: amounts[i],
          typePaiement,
          typeTransaction: i === 0 ? "PAIEMENT_DEMANDE" : null,
          statut: statuts[i],
          reference: `TRX-${i}-${typePaiement}`,
          deletedAt: i === 3 ? at("2025-02-28T23:59:59.999Z") : null,
        },
      }),
    );
  }

  await prisma.payment.create({
    data: {
      transactionId: transactions[1].id,
      demandePartageId: demandes.VALIDEE.id,
      provider: "wave",
      providerRef: "WV-000001",
      status: "succeeded",
      amount: "15000.5",
      currency: "XOF",
      metadata: { phone: "+221770000000", reçu: { numéro: 42, lignes: [{ libellé: "Frais", montant: "15000.5" }] } },
      paidAt: at("2025-01-15T10:31:00.999Z"),
    },
  });
  await prisma.payment.create({
    data: {
      abonnementId: abonnements.STANDARD.id,
      provider: "stripe",
      providerRef: "pi_3Nabc",
      status: "pending",
      amount: "0.01",
      currency: "EUR",
    },
  });

  await prisma.contactMessage.create({
    data: {
      name: "Zoë O'Brien",
      email: "zoe@example.com",
      subject: null,
      message: "Bonjour,\n\nLigne 2 avec \"guillemets\", une tabulation\tet un antislash \\.\n— Zoë 🙂",
      isRead: true,
    },
  });
  await prisma.contactMessage.create({
    data: { name: "Anonyme", email: "anon@example.com", subject: "", message: "x" },
  });

  for (const [key, value] of [
    ["platform.limits", { maxUploadMb: 25, types: ["pdf", "jpg"], nested: { deep: { deeper: "é" } } }],
    ["platform.welcome", "Bienvenue sur la plateforme ✨"],
    ["platform.fees", [0, 0.5, 1500]],
    ["platform.enabled", true],
    ["platform.ratio", 0.1],
  ]) {
    await prisma.configuration.create({ data: { key, value, description: key.endsWith("fees") ? "Frais (XOF)" : null } });
  }

  await prisma.siteSettings.create({
    data: {
      siteName: "Partage de documents — Sénégal",
      contactEmail: "support@platform.example",
      maintenanceMode: false,
      extra: { theme: { primary: "#0a5", logo: null }, langues: ["fr", "wo", "en"] },
    },
  });

  await prisma.auditLog.create({
    data: {
      userId: users.ADMIN.id,
      action: "user.login",
      entity: "User",
      entityId: users.ADMIN.id,
      details: { ip: "::1", agent: "Mozilla/5.0", succès: true },
      ipAddress: "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
      userAgent: "Mozilla/5.0 (X11; Linux x86_64)",
    },
  });
  await prisma.auditLog.create({
    data: { action: "system.start", entity: "System", createdAt: at("2020-01-01T00:00:00.000Z") },
  });
}

try {
  await main();
} finally {
  await prisma.$disconnect();
}
