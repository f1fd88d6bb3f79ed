export async function runChaosCommand(_a: string[], _io: unknown): Promise<number> {
  return 2
}
