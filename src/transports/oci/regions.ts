/**
 * OCI region names: the short codes that instance metadata answers with and
 * that resource OCIDs carry (`ocid1.onstopic.oc1.phx.…`), and a pure check
 * that a topic OCID belongs to the configured region. An unknown code is not
 * an error (OCI adds regions): only a known mismatch is.
 */
/** Short region codes (in IMDS answers and in OCIDs) and the region each names. */
export const SHORT_REGIONS: Record<string, string> = {
  iad: 'us-ashburn-1', phx: 'us-phoenix-1', sjc: 'us-sanjose-1', ord: 'us-chicago-1',
  yyz: 'ca-toronto-1', yul: 'ca-montreal-1', fra: 'eu-frankfurt-1', ams: 'eu-amsterdam-1',
  lhr: 'uk-london-1', cwl: 'uk-cardiff-1', zrh: 'eu-zurich-1', cdg: 'eu-paris-1', mrs: 'eu-marseille-1',
  lin: 'eu-milan-1', arn: 'eu-stockholm-1', mad: 'eu-madrid-1', nrt: 'ap-tokyo-1', kix: 'ap-osaka-1',
  icn: 'ap-seoul-1', yny: 'ap-chuncheon-1', bom: 'ap-mumbai-1', hyd: 'ap-hyderabad-1',
  syd: 'ap-sydney-1', mel: 'ap-melbourne-1', sin: 'ap-singapore-1', gru: 'sa-saopaulo-1',
  vcp: 'sa-vinhedo-1', scl: 'sa-santiago-1', jed: 'me-jeddah-1', dxb: 'me-dubai-1',
  auh: 'me-abudhabi-1', jnb: 'af-johannesburg-1', mtz: 'il-jerusalem-1', qro: 'mx-queretaro-1',
};

/** The region an OCID names (`ocid1.<type>.<realm>.<region>.<id>`), or null when absent or unknown. */
export function ocidRegion(ocid: string): string | null {
  const part = ocid.split('.')[3]?.toLowerCase();
  if (!part) return null;
  if (/^[a-z]{2,}(-[a-z0-9]+)*-\d+$/.test(part)) return part;
  return SHORT_REGIONS[part] ?? null;
}

/** Why topic_id and region disagree (every publish would fail with 404), or null. */
export function topicRegionProblem(topicId: string, region: string): string | null {
  const inId = ocidRegion(topicId);
  if (inId === null || inId === region) return null;
  return `the topic OCID is in ${inId} (its region part is "${topicId.split('.')[3]}") but region = "${region}": `
    + `every publish would go to the wrong region and fail with 404 NotAuthorizedOrNotFound; set region = "${inId}"`;
}
