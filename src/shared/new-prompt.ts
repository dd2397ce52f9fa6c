/**
 * What New Prompt opens: two prompt blocks of the embedded model's own language (lowercase words,
 * capitalised names, punctuation as words of its own), separated by `---`, so the first analysis of a
 * newcomer is about words the model knows. test/unit/extension/prompt-words.test.ts checks every word
 * against the embedded tokenizer.
 */
export const NEW_PROMPT_TEMPLATE = 'the capital of Texas is\n---\nDallas is in the state whose capital is\n';
