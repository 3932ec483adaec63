import Ajv from "ajv";
import { dockerDefaultAllowed } from "./docker-default-allowed";
import { emitProfile } from "./emit-profile";
import { OciSeccomp, toOciSeccomp } from "./oci-seccomp";
import { defaultProfile } from "./read-profile";
import ociSchema from "./schemas/oci-seccomp.schema.json";
import spoSchema from "./schemas/spo-seccompprofile.schema.json";
import { dnsName, profileForms, toSpoSeccompProfile } from "./spo-profile";

// A fixed kernel so `minKernel` rules (ptrace ≥ 4.8) do not depend on the test host.
const CTX = { kernel: "6.1.0" };
const NARROW = ["read", "write", "exit_group", "personality", "clone"];

const ajv = new Ajv({ allErrors: true, strict: true });
const validOci = ajv.compile(ociSchema);
const validSpo = ajv.compile(spoSchema);

const expectValid = (v: typeof validOci, obj: unknown) => {
  const ok = v(obj);
  expect(ok ? [] : v.errors).toEqual([]);
};
const allowedNames = (s: { syscalls: OciSeccomp["syscalls"] }) =>
  new Set(
    s.syscalls
      .filter((r) => r.action === "SCMP_ACT_ALLOW")
      .flatMap((r) => r.names),
  );
const docker = () => defaultProfile().profile;
const narrowed = () => emitProfile(docker(), new Set(NARROW), CTX);
const dockerOnlyKeys = /"(includes|excludes|comment|archMap)"/;

describe("toOciSeccomp", () => {
  it("converts Docker's default profile to a schema-valid linux.seccomp for default caps on x86-64", () => {
    const oci = toOciSeccomp(docker(), CTX);
    expectValid(validOci, oci);
    expect(oci.defaultAction).toBe("SCMP_ACT_ERRNO");
    expect(oci.defaultErrnoRet).toBe(1);
    expect(oci.architectures).toEqual([
      "SCMP_ARCH_X86_64",
      "SCMP_ARCH_X86",
      "SCMP_ARCH_X32",
    ]);
    expect(JSON.stringify(oci)).not.toMatch(dockerOnlyKeys);
    const names = allowedNames(oci);
    // Nothing Docker lets this container run is lost.
    for (const n of dockerDefaultAllowed(docker(), CTX))
      expect(names).toContain(n);
    expect(names).toContain("arch_prctl"); // includes arches amd64
    expect(names).toContain("ptrace"); // minKernel 4.8
    for (const n of [
      "mount",
      "bpf",
      "reboot",
      "arm_fadvise64_64",
      "s390_runtime_instr",
    ])
      expect(names).not.toContain(n);
    // clone3 keeps its ENOSYS answer so glibc falls back to clone.
    expect(oci.syscalls).toContainEqual({
      names: ["clone3"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: 38,
    });
  });

  it("follows the context: CAP_SYS_ADMIN opens mount and drops the arg-filtered clone; an old kernel drops ptrace", () => {
    const admin = toOciSeccomp(docker(), { ...CTX, caps: ["SYS_ADMIN"] });
    expect(allowedNames(admin)).toContain("mount");
    expect(
      admin.syscalls.some((r) => r.names.includes("clone") && r.args),
    ).toBe(false);
    expect(
      admin.syscalls.some(
        (r) => r.names.includes("clone3") && r.action === "SCMP_ACT_ERRNO",
      ),
    ).toBe(false);
    expect(
      allowedNames(toOciSeccomp(docker(), { kernel: "4.4.0" })),
    ).not.toContain("ptrace");
    expect(
      toOciSeccomp(docker(), { ...CTX, arch: "aarch64" }).architectures,
    ).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
  });

  it("keeps a narrowed profile to exactly the allowed names, with their argument conditions", () => {
    const oci = toOciSeccomp(narrowed(), CTX);
    expectValid(validOci, oci);
    expect([...allowedNames(oci)].sort()).toEqual([...NARROW].sort());
    expect(JSON.stringify(oci)).not.toMatch(dockerOnlyKeys);
    const personality = oci.syscalls.filter((r) =>
      r.names.includes("personality"),
    );
    expect(personality.length).toBeGreaterThan(1);
    for (const r of personality) expect(r.args?.length).toBeGreaterThan(0);
    expect(personality.map((r) => r.args![0].value)).toContain(0xffffffff);
    const clone = oci.syscalls.filter(
      (r) => r.names.includes("clone") && r.action === "SCMP_ACT_ALLOW",
    );
    expect(clone).toHaveLength(1);
    // Docker's MASKED_EQ: value is the mask (CLONE_NEW* flags), valueTwo (absent = 0) the required result.
    expect(clone[0].args).toEqual([
      { index: 0, op: "SCMP_CMP_MASKED_EQ", value: 0x7e020000 },
    ]);
  });

  it("uses explicit architectures over archMap and omits them when neither applies", () => {
    expect(
      toOciSeccomp({
        defaultAction: "SCMP_ACT_ERRNO",
        architectures: ["SCMP_ARCH_X86_64"],
      }).architectures,
    ).toEqual(["SCMP_ARCH_X86_64"]);
    expect(
      toOciSeccomp({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [] })
        .architectures,
    ).toBeUndefined();
  });

  it("rejects Docker-only fields in the schema (so the schema can catch a leak)", () => {
    const leaky = {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", includes: {} }],
    };
    expect(validOci(leaky)).toBe(false);
    expect(
      validSpo({
        ...toSpoSeccompProfile(narrowed(), "x", CTX),
        metadata: { name: "Bad_Name" },
      }),
    ).toBe(false);
  });
});

describe("toSpoSeccompProfile", () => {
  it.each([
    ["default", docker],
    ["narrowed", narrowed],
  ])(
    "converts the %s profile to a schema-valid SeccompProfile matching the OCI form",
    (_, make) => {
      const spo = toSpoSeccompProfile(
        make(),
        "docker.io/library/nginx:1.25",
        CTX,
      );
      expectValid(validSpo, spo);
      expect(spo.apiVersion).toBe(
        "security-profiles-operator.x-k8s.io/v1beta1",
      );
      expect(spo.kind).toBe("SeccompProfile");
      expect(spo.metadata.name).toBe("docker-io-library-nginx-1-25");
      expect(JSON.stringify(spo)).not.toMatch(dockerOnlyKeys);
      expect(JSON.stringify(spo)).not.toMatch(/defaultErrnoRet/);
      const oci = toOciSeccomp(make(), CTX);
      // SPO v1beta1 has args and errnoRet, so nothing is loosened.
      expect(spo.spec.syscalls).toEqual(oci.syscalls);
      expect(spo.spec.architectures).toEqual(oci.architectures);
    },
  );
});

describe("dnsName", () => {
  it.each([
    "Registry.Example.com:5000/Team/App_Server:v1.2-rc",
    "---",
    "a".repeat(300),
    "ghcr.io/x/y@sha256:" + "f".repeat(64),
  ])("makes a DNS-1123 label from %s", (img) => {
    const n = dnsName(img);
    expect(n).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(n.length).toBeLessThanOrEqual(63);
  });
  it("keeps long names that share a prefix apart", () => {
    expect(dnsName("a".repeat(100) + "x")).not.toBe(
      dnsName("a".repeat(100) + "y"),
    );
  });
});

describe("profileForms", () => {
  it("names NAME.oci.json and NAME.spo.json, whose texts parse back to the converted objects", () => {
    const forms = profileForms(narrowed(), "alpine:3.19", ["oci", "spo", "oci"], CTX);
    expect(forms.map((f) => f.fileName)).toEqual(["alpine-3-19.oci.json", "alpine-3-19.spo.json"]);
    expect(JSON.parse(forms[0].text)).toEqual(toOciSeccomp(narrowed(), CTX));
    expect(JSON.parse(forms[1].text)).toEqual(toSpoSeccompProfile(narrowed(), "alpine:3.19", CTX));
    expect(profileForms(narrowed(), "alpine:3.19", ["spo"], CTX)).toEqual([forms[1]]);
    expect(profileForms(narrowed(), "alpine:3.19", [], CTX)).toEqual([]);
  });
});
