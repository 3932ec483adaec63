/**
 * The Kubernetes Security Profiles Operator form: a `SeccompProfile` object
 * (security-profiles-operator.x-k8s.io/v1beta1) whose spec is the OCI seccomp form.
 * SPO v1beta1's Syscall has `errnoRet` and `args`, so argument conditions carry over
 * unchanged; it has no `comment` field, so none is written. Files are JSON: no YAML
 * package is installed and kubectl accepts JSON.
 */
import { createHash } from "node:crypto";
import type { ContainerContext } from "./docker-default-allowed";
import { OciSeccomp, OciSyscall, toOciSeccomp } from "./oci-seccomp";
import type { DockerProfile } from "./seccomp-types";

export const SPO_API_VERSION = "security-profiles-operator.x-k8s.io/v1beta1";

export interface SpoSeccompProfile {
  apiVersion: typeof SPO_API_VERSION;
  kind: "SeccompProfile";
  metadata: { name: string };
  spec: {
    defaultAction: OciSeccomp["defaultAction"];
    architectures?: string[];
    flags?: string[];
    listenerPath?: string;
    listenerMetadata?: string;
    syscalls: OciSyscall[];
  };
}

const MAX_NAME = 63;

/**
 * A DNS-1123 label from an image reference ("docker.io/library/nginx:1.25" →
 * "docker-io-library-nginx-1-25"). A label (≤63, no dots) rather than a subdomain,
 * because SPO also uses the name as the profile's file name on the node. Long names
 * keep a hash suffix so two long references sharing a prefix do not collide.
 */
export function dnsName(imageName: string): string {
  const base = imageName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  if (!base) return "confine-profile";
  if (base.length <= MAX_NAME) return base;
  const hash = createHash("sha256").update(imageName).digest("hex").slice(0, 8);
  return `${base.slice(0, MAX_NAME - 9).replace(/-+$/, "")}-${hash}`;
}

export function toSpoSeccompProfile(
  profile: DockerProfile,
  name: string,
  ctx: ContainerContext = {},
): SpoSeccompProfile {
  const oci = toOciSeccomp(profile, ctx);
  // SPO has no defaultErrnoRet: its default action always answers EPERM. Fine for
  // confine's profiles (EPERM by design); a base asking for another errno loses it.
  const spec: SpoSeccompProfile["spec"] = {
    defaultAction: oci.defaultAction,
    syscalls: oci.syscalls,
  };
  if (oci.architectures) spec.architectures = oci.architectures;
  if (oci.flags) spec.flags = oci.flags;
  if (oci.listenerPath) spec.listenerPath = oci.listenerPath;
  if (oci.listenerMetadata) spec.listenerMetadata = oci.listenerMetadata;
  return {
    apiVersion: SPO_API_VERSION,
    kind: "SeccompProfile",
    metadata: { name: dnsName(name) },
    spec,
  };
}

export type ProfileForm = "oci" | "spo";

/** The texts of the forms asked for, each under its file name NAME.oci.json / NAME.spo.json (NAME = dnsName(imageName)); writing them is the caller's. */
export function profileForms(
  dockerProfile: DockerProfile,
  imageName: string,
  forms: ProfileForm[],
  ctx: ContainerContext = {},
): { fileName: string; text: string }[] {
  const name = dnsName(imageName);
  return [...new Set(forms)].map((form) => {
    const obj =
      form === "oci"
        ? toOciSeccomp(dockerProfile, ctx)
        : toSpoSeccompProfile(dockerProfile, imageName, ctx);
    return { fileName: `${name}.${form}.json`, text: JSON.stringify(obj, null, 2) + "\n" };
  });
}
