'use client'
import { subscribe } from '@herald/client'
import { useState } from 'react'

export default function Page() {
  const [prompt, setPrompt] = useState('What is SSE?')
  const [answer, setAnswer] = useState('')
  const [busy, setBusy] = useState(false)

  async function ask() {
    setAnswer('')
    setBusy(true)
    // @herald/client reconnects with Last-Event-ID on a dropped connection; the route
    // handler resumes after the last token it sent.
    const events = subscribe(`/api/chat?prompt=${encodeURIComponent(prompt)}`)
    for await (const event of events) {
      if (event.type === 'done') break
      setAnswer((text) => text + event.data)
    }
    setBusy(false)
  }

  return (
    <main style={{ maxWidth: 640, margin: '40px auto', font: '16px/1.5 system-ui' }}>
      <h1>Token streaming</h1>
      <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ width: '70%' }} />
      <button type="button" onClick={ask} disabled={busy}>
        Ask
      </button>
      <p>{answer}</p>
    </main>
  )
}
