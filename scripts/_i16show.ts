import { analyzeBinary, SummarySource } from '../cli/analyze-command';
(async () => {
  const s = new SummarySource();
  for (const b of process.argv.slice(2)) {
    const a = await analyzeBinary('/', b, s);
    for (const [nr, r] of a.resolution!.argRules) console.log(b, nr, r.unconditional ? 'UNCOND ' + JSON.stringify(r.unconditional) : r.values.map((v) => '0x' + v.toString(16)).join(','));
  }
})();
