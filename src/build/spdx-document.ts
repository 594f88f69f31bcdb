/** SPDX 2.3 JSON shapes (spdx-spec v2.3 schemas/spdx-schema.json), only the fields Fixity writes. */

export type SPDXChecksumAlgorithm = 'SHA1' | 'SHA256' | 'SHA384' | 'SHA512';

export interface SPDXChecksum {
  algorithm: SPDXChecksumAlgorithm;
  checksumValue: string;
}

export interface SPDXExternalRef {
  referenceCategory: 'PACKAGE-MANAGER';
  referenceType: 'purl';
  referenceLocator: string;
}

export interface SPDXPackage {
  name: string;
  SPDXID: string;
  versionInfo: string;
  downloadLocation: string;
  filesAnalyzed: boolean;
  packageVerificationCode?: { packageVerificationCodeValue: string };
  checksums?: SPDXChecksum[];
  /** NOASSERTION: Fixity draws no license conclusions of its own. */
  licenseConcluded: 'NOASSERTION';
  /** An SPDX license expression, or NOASSERTION. */
  licenseDeclared: string;
  copyrightText: 'NOASSERTION';
  externalRefs?: SPDXExternalRef[];
  primaryPackagePurpose: 'CONTAINER' | 'LIBRARY';
  sourceInfo?: string;
}

export interface SPDXFile {
  /** `./` and the image path. */
  fileName: string;
  SPDXID: string;
  /** SHA1 then SHA256. */
  checksums: SPDXChecksum[];
}

export type SPDXRelationshipType = 'DESCRIBES' | 'CONTAINS' | 'DEPENDS_ON' | 'DEV_DEPENDENCY_OF';

export interface SPDXRelationship {
  spdxElementId: string;
  relationshipType: SPDXRelationshipType;
  relatedSpdxElement: string;
}

export interface SPDXDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SPDXPackage[];
  files: SPDXFile[];
  relationships: SPDXRelationship[];
}
