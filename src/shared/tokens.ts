/**
 * One token of a prompt, with the character range it covers in the prompt text (end exclusive). Special
 * tokens the tokenizer inserts (BOS) have start === end at their insertion point.
 */
export interface TokenInfo {
  id: number;
  text: string;
  start: number;
  end: number;
  special: boolean;
}
