/**
 * Throwaway X.509 certificates for tests of TLS with client certificates
 * (MLLP): a CA, server and client certificates signed by it. Keys come from
 * node:crypto; node-forge builds and signs the certificates (node:crypto
 * cannot), so no openssl binary is needed.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface Issued {
  key: string;
  cert: string;
}

/** A key pair (node:crypto) and a certificate for `cn`, signed by `issuer` (or self-signed: a CA). */
export function issue(cn: string, issuer: Issued | null, usage: 'ca' | 'server' | 'client'): Issued {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const subject = [{ name: 'commonName', value: cn }, { name: 'organizationName', value: 'Test alliance' }];
  cert.setSubject(subject);
  const signer = issuer ? forge.pki.certificateFromPem(issuer.cert) : null;
  cert.setIssuer(signer ? signer.subject.attributes : subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: usage === 'ca' },
    usage === 'ca' ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true } : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    ...(usage === 'ca' ? [] : [{ name: 'extKeyUsage', serverAuth: usage === 'server', clientAuth: usage === 'client' }]),
    ...(usage === 'server' ? [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }] : []),
  ]);
  cert.sign(forge.pki.privateKeyFromPem(issuer ? issuer.key : keyPem), forge.md.sha256.create());
  return { key: keyPem, cert: forge.pki.certificateToPem(cert) };
}
