/**
 * `circuit-inspector dashboards --model DIR --transcoders DIR --corpus FILES|JSONL --out DIR`: builds the
 * feature dashboards of a dictionary from a corpus (src/engine/features/dashboards.ts) into
 * DIR/dashboards.sqlite, with progress on stderr; Ctrl-C leaves a checkpoint that --resume continues.
 * With --search TEXT or --card L:I it reads an existing store instead.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { attributionEngine } from '../engine/attribution/engine';
import { loadModelBundle } from '../engine/bundle/index';
import { loadDictionary } from '../engine/dictionaries/index';
import { buildDashboards, readCorpus } from '../engine/features/dashboards';
import { PublishedFeatures } from '../engine/features/neuronpedia';
import { FeatureStore, STORE_FILE } from '../engine/features/store';
import { dictionaryDir } from './analyze';
import { intOption, modelOption, parse, providerOption, RUNTIME_FLAGS, UsageError, type CliCommand, runtimeUsage } from './args';

const usage = `Usage: circuit-inspector dashboards --corpus FILE… --out DIR [options]
       circuit-inspector dashboards --corpus FILE… --out DIR --neuronpedia EXPORT [--neuronpedia EXPORT …]
       circuit-inspector dashboards --store FILE (--search TEXT | --card L:I) [--json]

  --model DIR          Hugging Face model folder (default: the embedded models/toy-llama)
  --transcoders DIR    transcoder set, CLT or SAE (default: the model folder's transcoders/)
  --corpus FILE…       text files (documents separated by blank lines) or JSONL ({"text": …} per line);
                       repeat the flag or list files after it
  --out DIR            where dashboards.sqlite is written
  --max-tokens N       stop after N tokens
  --top-k N            top contexts kept per feature (default 10)
  --batch-docs N       documents per batch (default 16)
  --resume             continue an interrupted build from its checkpoint
  --neuronpedia FILE   a Neuronpedia export of this dictionary (explanation export JSON, dataset batch
                       JSONL[.gz], feature JSON; repeat the flag per file): each card keeps the
                       published label and examples; a feature without its own label takes the published one
  --store FILE         read a built store: --search TEXT (labels, descriptions, top tokens) or --card L:I
  --json               print JSON
${runtimeUsage(23)}`;

export const command: CliCommand = {
  summary: 'Build feature dashboards (top contexts, density, histogram, logits) from a corpus into one SQLite file; search them.',
  usage,
  async run(argv, io) {
    const a = parse(argv, {
      model: { type: 'string' },
      transcoders: { type: 'string' },
      corpus: { type: 'string', multiple: true },
      out: { type: 'string' },
      'max-tokens': { type: 'string' },
      'top-k': { type: 'string' },
      'batch-docs': { type: 'string' },
      resume: { type: 'boolean' },
      neuronpedia: { type: 'string', multiple: true },
      store: { type: 'string' },
      search: { type: 'string' },
      card: { type: 'string' },
      json: { type: 'boolean' },
      ...RUNTIME_FLAGS,
    });
    if (typeof a.store === 'string') {
      const store = await FeatureStore.open(resolve(a.store));
      if (typeof a.search === 'string') {
        const hits = store.search(a.search, 30);
        if (a.json) io.out(JSON.stringify(hits, null, 2));
        else for (const h of hits) io.out(`L${h.layer}#${h.index}  ${h.label}${h.f1 !== null ? `  (F1 ${h.f1.toFixed(2)})` : h.labelSource === 'automatic' ? '  (automatic)' : ''}  density ${(h.density * 100).toFixed(2)} %`);
        return 0;
      }
      const m = typeof a.card === 'string' ? /^(\d+):(\d+)$/.exec(a.card) : null;
      if (!m) throw new UsageError('with --store, give --search TEXT or --card LAYER:INDEX');
      const card = store.card(Number(m[1]), Number(m[2]));
      if (!card) throw new UsageError(`the store has no feature ${a.card}`);
      io.out(JSON.stringify(card, null, a.json ? 2 : 0));
      return 0;
    }
    const corpus = [...((a.corpus as unknown as string[] | undefined) ?? []), ...a._].map((f) => resolve(f));
    if (!corpus.length) throw new UsageError('--corpus is required');
    if (typeof a.out !== 'string') throw new UsageError('--out is required');
    const maxTokens = a['max-tokens'] === undefined ? undefined : intOption(a['max-tokens'], 'max-tokens', 1, 0);
    const topK = intOption(a['top-k'], 'top-k', 1, 10);
    const batchDocs = intOption(a['batch-docs'], 'batch-docs', 1, 16);
    const docs = readCorpus(corpus);
    const npFiles = ((a.neuronpedia as unknown as string[] | undefined) ?? []).map((f) => resolve(f));
    const published = npFiles.length ? PublishedFeatures.read(npFiles) : undefined;
    if (published) process.stderr.write(`neuronpedia: ${published.size} features with published labels or examples (${published.records} records, ${published.skipped} skipped)\n`);
    const modelDir = modelOption(a.model);
    const bundle = await loadModelBundle(modelDir);
    const dictionary = await loadDictionary(dictionaryDir(a.transcoders, modelDir), { dModel: bundle.spec.dModel, nLayers: bundle.spec.nLayers, name: bundle.spec.name });
    const engine = await attributionEngine(bundle, dictionary, {
      provider: providerOption(a.provider),
      threads: intOption(a.threads, 'threads', 0, 0),
      cacheDir: typeof a['cache-dir'] === 'string' ? a['cache-dir'] : undefined,
    });
    const outDir = resolve(a.out);
    mkdirSync(outDir, { recursive: true });
    const ac = new AbortController();
    const onSigint = () => ac.abort();
    process.once('SIGINT', onSigint);
    try {
      const r = await buildDashboards(engine, dictionary, docs, join(outDir, STORE_FILE), {
        maxTokens,
        topK,
        batchDocs,
        resume: a.resume === true,
        published,
        corpusName: corpus.join(', '),
        signal: ac.signal,
        onProgress(p) {
          process.stderr.write(`\rdashboards: ${p.documents}/${p.totalDocuments} documents, ${p.tokens} tokens, ${p.tokensPerSecond.toFixed(0)} tokens/s   `);
        },
      });
      process.stderr.write('\n');
      if (a.json) io.out(JSON.stringify(r, null, 2));
      else {
        io.out(`${r.features} features of ${dictionary.name} over ${r.tokens} tokens (${r.documents} documents${r.resumedFrom ? `, resumed at ${r.resumedFrom}` : ''})`);
        io.out(`${r.seconds.toFixed(1)} s, ${r.tokensPerSecond.toFixed(0)} tokens/s; ${r.path} (${(r.bytes / 1e6).toFixed(2)} MB)`);
      }
      return 0;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
