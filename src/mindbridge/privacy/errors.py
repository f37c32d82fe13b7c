"""Why something was refused: one exception class per reason, each with a stable short `code`.

Messages name the field or file at fault and never contain key material.
"""

from __future__ import annotations


class PrivacyError(Exception):
    """Base of every refusal in `mindbridge.privacy`."""

    code = "privacy"


class MalformedInput(PrivacyError):
    """The bytes are not a well-formed envelope, token, document or keystore."""

    code = "malformed"


class InvalidDid(MalformedInput):
    """A DID is not syntactically valid or names an unsupported method or key type."""

    code = "invalid-did"


class AlgorithmRefused(PrivacyError):
    """A token or key uses an algorithm other than the one expected (`none`, HMAC, RSA, ...)."""

    code = "algorithm"


class BadSignature(PrivacyError):
    """A signature does not verify under the signer's key."""

    code = "signature"


class DecryptionFailed(PrivacyError):
    """HPKE opening failed: wrong key, tampered ciphertext or tampered associated data."""

    code = "decrypt"


class WrongRecipient(PrivacyError):
    """The envelope is addressed to someone else."""

    code = "recipient"


class OutOfWindow(PrivacyError):
    """A creation time lies outside the accepted window."""

    code = "time-window"


class TooLarge(PrivacyError):
    """The input exceeds the size limit."""

    code = "size"


class ReplayDetected(PrivacyError):
    """The envelope id was seen before or the sequence number did not increase."""

    code = "replay"


class UnknownSigner(PrivacyError):
    """The signing device is not on its patient's signed device list."""

    code = "unknown-signer"


class RetiredKey(UnknownSigner):
    """The signing device key had been retired before the envelope was created."""

    code = "retired-key"


class PayloadRefused(PrivacyError):
    """The payload does not match its schema or could carry a raw series."""

    code = "payload"


class ConsentRefused(PrivacyError):
    """No valid consent covers this use."""

    code = "consent"


class ConsentExpired(ConsentRefused):
    """The grant is expired or not yet valid."""

    code = "consent-expired"


class ConsentRevoked(ConsentRefused):
    """The grant's bit is set in the patient's status list."""

    code = "consent-revoked"


class ConsentWrongPatient(ConsentRefused):
    """The grant was issued by, or is about, another patient."""

    code = "consent-patient"


class ConsentWrongGrantee(ConsentRefused):
    """The grant names another grantee or another purpose."""

    code = "consent-grantee"


class ConsentScope(ConsentRefused):
    """The grant's scope does not cover the families or outputs asked for."""

    code = "consent-scope"


class KeystoreError(PrivacyError):
    """A keystore cannot be unlocked (wrong passphrase or damaged file)."""

    code = "keystore"


class AttestationError(PrivacyError):
    """An attestation document does not verify or does not satisfy the policy."""

    code = "attestation"


class FaultAt(Exception):
    """A fault deep inside a JSON value, internal to a walk: each level adds its step while the fault travels out
    (`under`), so a walk that passes builds no path; the walk's entry point turns it into its public error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message, self.steps = message, list[str]()

    def under(self, step: str) -> FaultAt:
        """This fault, one level further out (`.name` or `[index]`)."""
        self.steps.append(step)
        return self

    def described(self) -> str:
        """`$.path.to[3]: message`."""
        return f"${''.join(reversed(self.steps))}: {self.message}"
