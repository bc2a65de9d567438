/**
 * Messages to patients: the one-time codes that confirm a consent directive
 * staff recorded on a patient's behalf (subgraphs/identity/src/consents.ts)
 * go to the contact the patient registered, through a notifier:
 *
 * - `log` (development, the default outside production): writes the message,
 *   code included, to the service's log; refused in production;
 * - `smtp`: e-mail through an SMTP server, with nodemailer (the maintained
 *   e-mail library of Node.js): CONSENT_NOTIFIER_SMTP_URL
 *   (smtp://user:password@host:587, smtps://… for implicit TLS) and
 *   CONSENT_NOTIFIER_FROM;
 * - `http-sms`: text messages through an SMS provider's HTTP API:
 *   CONSENT_NOTIFIER_SMS_URL receives `POST {"to": "+86…", "text": "…"}`
 *   (JSON) with `Authorization: Bearer CONSENT_NOTIFIER_SMS_TOKEN` when set;
 *   any 2xx is sent.
 *
 * CONSENT_NOTIFIER names one or several (`smtp,http-sms`): a phone number
 * goes by SMS where SMS is configured, an e-mail address by e-mail.
 */
import nodemailer from 'nodemailer';
import type { Logger } from '../runtime/logger.js';

export interface Contact {
  kind: 'sms' | 'email';
  address: string;
}

export interface Message {
  to: Contact;
  subject: string;
  text: string;
}

export interface Notifier {
  /** Which kinds of contact it reaches. */
  reaches: ReadonlySet<Contact['kind']>;
  /** Sends; throws when the message could not be handed over. */
  send(message: Message): Promise<void>;
}

export class NotifierConfigError extends Error {}

/** Development: the message goes to the log (the code included), never to the patient. */
export function logNotifier(logger: Logger): Notifier {
  return {
    reaches: new Set(['sms', 'email']),
    async send(message) {
      logger.info({ notifier: 'log', to: message.to.kind, subject: message.subject, text: message.text }, 'message to the patient (development notifier: not sent)');
    },
  };
}

/** E-mail through SMTP (nodemailer). */
export function smtpNotifier(url: string, from: string): Notifier {
  const transport = nodemailer.createTransport(url);
  return {
    reaches: new Set(['email']),
    async send(message) {
      await transport.sendMail({ from, to: message.to.address, subject: message.subject, text: message.text });
    },
  };
}

/** Text messages through an SMS provider's HTTP API (see the module comment). */
export function httpSmsNotifier(url: string, token: string | undefined, timeoutMs = 10_000): Notifier {
  return {
    reaches: new Set(['sms']),
    async send(message) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ to: message.to.address, text: message.text }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) throw new Error(`the SMS provider answered ${response.status}`);
    },
  };
}

/** Several notifiers: each message goes through the first that reaches its kind of contact. */
function combined(notifiers: Notifier[]): Notifier {
  return {
    reaches: new Set(notifiers.flatMap((n) => [...n.reaches])),
    async send(message) {
      const notifier = notifiers.find((n) => n.reaches.has(message.to.kind));
      if (!notifier) throw new Error(`no notifier reaches ${message.to.kind}`);
      await notifier.send(message);
    },
  };
}

/** The notifier the environment configures (see the module comment); refuses the log notifier in production. */
export function notifierFromEnvironment(env: Record<string, string | undefined>, logger: Logger, production: boolean): Notifier {
  const names = (env.CONSENT_NOTIFIER ?? (production ? '' : 'log')).split(',').map((n) => n.trim()).filter(Boolean);
  if (!names.length) throw new NotifierConfigError('CONSENT_NOTIFIER is required in production: smtp and/or http-sms (one-time codes reach patients through it)');
  const notifiers = names.map((name) => {
    if (name === 'log') {
      if (production) throw new NotifierConfigError('CONSENT_NOTIFIER=log only logs one-time codes: refused in production');
      return logNotifier(logger);
    }
    if (name === 'smtp') {
      if (!env.CONSENT_NOTIFIER_SMTP_URL || !env.CONSENT_NOTIFIER_FROM) throw new NotifierConfigError('CONSENT_NOTIFIER=smtp needs CONSENT_NOTIFIER_SMTP_URL and CONSENT_NOTIFIER_FROM');
      return smtpNotifier(env.CONSENT_NOTIFIER_SMTP_URL, env.CONSENT_NOTIFIER_FROM);
    }
    if (name === 'http-sms') {
      if (!env.CONSENT_NOTIFIER_SMS_URL) throw new NotifierConfigError('CONSENT_NOTIFIER=http-sms needs CONSENT_NOTIFIER_SMS_URL');
      return httpSmsNotifier(env.CONSENT_NOTIFIER_SMS_URL, env.CONSENT_NOTIFIER_SMS_TOKEN);
    }
    throw new NotifierConfigError(`Unknown CONSENT_NOTIFIER ${name} (log, smtp, http-sms)`);
  });
  return notifiers.length === 1 ? notifiers[0]! : combined(notifiers);
}
