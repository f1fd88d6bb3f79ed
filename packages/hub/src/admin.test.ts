import { describe, expect, it } from 'vitest'
import { createAdminGate } from './admin.js'
import { createAuthenticator, mintToken } from './auth.js'

const SECRET = 'admin-gate-test-secret-0123456789'
const TOKEN = 'an-admin-token-0123456789'
const url = new URL('http://hub/dashboard/api/clients')
const bearer = (token?: string) => ({
  url,
  header: (name: string) =>
    name === 'authorization' && token !== undefined ? `Bearer ${token}` : undefined,
})

describe('createAdminGate', () => {
  it('is open when there is no auth and no admin token (development)', async () => {
    const gate = createAdminGate(createAuthenticator({}), undefined)
    expect(gate.gated).toBe(false)
    expect(await gate.check(bearer())).toBe('admin')
  })

  it('with an admin token only: that token, nothing else', async () => {
    const gate = createAdminGate(createAuthenticator({}), TOKEN)
    expect(gate.gated).toBe(true)
    expect(await gate.check(bearer(TOKEN))).toBe('admin')
    expect(await gate.check(bearer())).toBe('anonymous')
    await expect(gate.check(bearer(`${TOKEN}x`))).rejects.toMatchObject({ status: 401 })
    await expect(gate.require(bearer())).rejects.toMatchObject({ code: 'HERALD_UNAUTHORIZED' })
  })

  it('with auth on: a JWT with herald.admin, not one without; cookies never count', async () => {
    const gate = createAdminGate(createAuthenticator({ jwtSecret: SECRET }), undefined)
    const admin = await mintToken({ secret: SECRET, admin: true })
    const user = await mintToken({ secret: SECRET, subscribe: ['*'], publish: ['*'] })
    expect(await gate.check(bearer(admin))).toBe('admin')
    await expect(gate.check(bearer(user))).rejects.toMatchObject({ code: 'HERALD_FORBIDDEN' })
    await expect(gate.check(bearer('nonsense'))).rejects.toMatchObject({ status: 401 })
    const cookie = {
      url,
      header: (name: string) => (name === 'cookie' ? `heraldAuthorization=${admin}` : undefined),
    }
    expect(await gate.check(cookie)).toBe('anonymous')
  })

  it('refuses a short admin token', () => {
    expect(() => createAdminGate(createAuthenticator({}), 'short')).toThrow(/16 characters/)
  })
})
